//! RLE operations against values computed with pycocotools.
