"""probekit: pretrain small transformers on proxy tasks of Boolean latents and probe them."""

__version__ = "0.1.0"
