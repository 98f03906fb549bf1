"""Citations shared by built-in components."""

from dabench.specs import Citation

DANN_INTERSEMANTIC = Citation(
    authors="(authors of shared/papers/dann-intersemantic-histopathology)",
    title="Domain adversarial training for data-shift robustness: an inter-semantic study in histopathology",
    year=2023,
    venue="shared/papers/dann-intersemantic-histopathology.txt",
)
GANIN_2015 = Citation(
    authors="Yaroslav Ganin, Victor Lempitsky",
    title="Unsupervised Domain Adaptation by Backpropagation",
    year=2015,
    venue="ICML",
    url="https://proceedings.mlr.press/v37/ganin15.html",
)
ERM = Citation(
    authors="Vladimir N. Vapnik",
    title="Principles of Risk Minimization for Learning Theory",
    year=1991,
    venue="NeurIPS",
)
