"""Reporting: records → rows (``leaderboard_rows``) → significance-aware ranks (``ranking``) → markdown
(``leaderboard``), with every user string escaped (``markdown``)."""
