"""Hub sharing: a finished run in, a model repo (and dataset repo) with a model card out.

Read `push.py` first (`push_run`); `client.py` is the only module that talks to the
Hub (and downloads checkpoints for any stage), `files.py` decides what a push uploads,
`model_card.py` writes the card.
"""
