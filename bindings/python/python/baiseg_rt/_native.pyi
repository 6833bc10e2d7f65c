"""Type stubs of the native (Rust) module; use the wrappers in ``baiseg_rt`` instead."""

from typing import Dict, List, Optional, Tuple

import numpy as np
import numpy.typing as npt

__version__: str

_RleTuple = Tuple[int, int, str]

class Instance:
    """One instance: a binary mask with its class and score."""

    @property
    def category(self) -> int:
        """Model class index (1..=K)."""
    @property
    def score(self) -> float:
        """Mean class probability over the mask (or label agreement for label maps)."""
    @property
    def bbox(self) -> List[float]:
        """Tight box ``[x, y, w, h]`` (pycocotools ``toBbox``)."""
    @property
    def area(self) -> int:
        """Number of mask pixels."""
    @property
    def size(self) -> Tuple[int, int]:
        """``(height, width)`` of the image."""
    @property
    def rle(self) -> Dict[str, object]:
        """pycocotools compressed RLE ``{"size": [h, w], "counts": str}``."""
    @property
    def polygons(self) -> List[List[float]]:
        """COCO polygons, one per part, holes bridged; they rasterise back to the mask."""
    def mask(self) -> npt.NDArray[np.bool_]:
        """The mask over the whole image, ``bool`` ``[H, W]``."""

class Model:
    def __init__(self, path: str, device: str = "cpu", threads: Optional[int] = None) -> None: ...
    @property
    def classes(self) -> List[str]: ...
    @property
    def info_json(self) -> str: ...
    def infer(
        self,
        images: List[npt.NDArray[np.uint8]],
        batch_size: int,
        params: Dict[str, object],
        tile: Optional[Tuple[int, int]] = None,
        scratch_dir: Optional[str] = None,
        spill_above: Optional[int] = None,
    ) -> List[List[Instance]]: ...
    def times(self) -> Tuple[float, float, float, float, int]: ...
    def category_ids(self, coco: Optional[str] = None) -> List[Optional[int]]: ...

class Evaluator:
    def __init__(self, gt_path: str, iou_type: str = "segm", protocol: str = "coco") -> None: ...
    def add_json(self, data: bytes, name: str) -> None: ...
    def summarize_json(self) -> str: ...

def mep(
    image: npt.NDArray[np.uint8],
    boundary: npt.NDArray[np.float32],
    semantic: Optional[npt.NDArray[np.float32]],
    labels: Optional[npt.NDArray[np.uint16]],
    params: Dict[str, object],
) -> List[Instance]: ...
def label_map(instances: List[Instance], height: int, width: int) -> npt.NDArray[np.uint16]: ...
def decode_image(data: bytes, name: str = "<bytes>") -> npt.NDArray[np.uint8]: ...
def coco_image_ids(path: str) -> Dict[str, int]: ...
def list_inputs(
    inputs: List[str], coco: Optional[str] = None
) -> List[Tuple[str, str, Optional[int], Optional[str]]]: ...
def coco_results_json(
    instances: List[Instance], image_id: int, category_ids: List[Optional[int]], file_name: Optional[str] = None
) -> str: ...
def mep_defaults() -> Dict[str, object]: ...
def ort_library() -> str: ...
def rle_encode(mask: npt.NDArray[np.uint8]) -> _RleTuple: ...
def rle_decode(rle: _RleTuple) -> npt.NDArray[np.uint8]: ...
def rle_area(rle: _RleTuple) -> int: ...
def rle_to_bbox(rle: _RleTuple) -> List[float]: ...
def rle_merge(rles: List[_RleTuple], intersect: bool) -> _RleTuple: ...
def rle_from_polygon(xy: List[float], height: int, width: int) -> _RleTuple: ...
def rle_from_bbox(bbox: List[float], height: int, width: int) -> _RleTuple: ...
def rle_iou(dt: List[_RleTuple], gt: List[_RleTuple], iscrowd: List[bool]) -> npt.NDArray[np.float64]: ...
def bbox_iou(dt: List[List[float]], gt: List[List[float]], iscrowd: List[bool]) -> npt.NDArray[np.float64]: ...
