"""Running: a request resolved into a spec (``resolve``), data loaded, checked, aligned and shifted
(``datasource``, ``validation``, ``alignment``), the protocol and the run itself (``protocols``, ``runner``), and
the store it is recorded in (``execution``, ``store``, ``claims``, ``sweep``, ``sweepfile``, ``provenance``,
``reproduce``, ``datafiles``). Nothing here prints."""
