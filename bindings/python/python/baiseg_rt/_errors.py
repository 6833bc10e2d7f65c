"""Exceptions raised by baiseg_rt; messages are the same as the ``baiseg-rt`` CLI's."""


class BaisegError(Exception):
    """Base class of every baiseg_rt error."""


class BaisegIOError(BaisegError, OSError):
    """A file could not be read or written (missing model, unreadable image, ...)."""


class DecodeError(BaisegError, ValueError):
    """Bytes could not be decoded as an image."""


class InvalidInputError(BaisegError, ValueError):
    """An input is well-formed but unusable (shape or size mismatch, bad parameter, ...)."""


class OrtError(BaisegError, RuntimeError):
    """ONNX Runtime could not be loaded, or failed."""


class ModelContractError(BaisegError, ValueError):
    """The ONNX graph is not a BAISeg model (docs/model-contract.md)."""


class CocoError(BaisegError, ValueError):
    """A COCO dataset or results list is malformed (unknown ids, bad JSON, RLE size, ...)."""


__all__ = [
    "BaisegError",
    "BaisegIOError",
    "CocoError",
    "DecodeError",
    "InvalidInputError",
    "ModelContractError",
    "OrtError",
]
