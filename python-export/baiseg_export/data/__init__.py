"""Datasets: procedural touching-object scenes, VOC-style folders, COCO JSON."""
