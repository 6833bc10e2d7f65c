"""Datasets (``--data``: procedural, VOC 2012, SBD, trainaug, COCO, folder), augmentation, voc2coco."""
