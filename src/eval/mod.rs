//! COCO (pycocotools-identical) and VOC instance-segmentation evaluation.
//!
//! PLACEHOLDER: being implemented (issue 5).
