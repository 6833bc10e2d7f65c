"""BAISeg network: HRNet backbone, IABD boundary branch (CFM/DMA/MAU/FFM), PPC head, ASPP head."""

from .baiseg import BAISeg, create_model, list_models

__all__ = ["BAISeg", "create_model", "list_models"]
