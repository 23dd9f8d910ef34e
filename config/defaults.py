"""Defaults that stages and settings share; plain constants, so stages can read them cheaply."""

# Query parameters stripped from article URLs; settings let operators replace the list.
DEFAULT_TRACKING_PARAMS = (
    "utm_*",
    "fbclid",
    "gclid",
    "dclid",
    "msclkid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_hsenc",
    "_hsmi",
    "igshid",
    "yclid",
    "mkt_tok",
    "oly_anon_id",
    "oly_enc_id",
    "vero_id",
    "wt_mc",
    "ref_src",
)

# The Redis Stream the stream sink appends stories to, and health checks look at.
DEFAULT_STREAM_NAME = "newsworker:stories"
