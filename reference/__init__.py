"""The instructor's solution for every part of the course (never shipped to students).

Shapes, stated once and used in every docstring and shape comment:

    N  batch size (rows of a mini-batch or of a whole split)
    D  inputs per example (784 = 28·28 for MNIST, flattened)
    H  hidden units (H1, H2, … per layer in the deep net)
    C  classes (10)

Parts: :mod:`reference.tp1_perceptron` (Part 1), :mod:`reference.tp2_shallow` (Part 2),
:mod:`reference.tp3_deep` (Part 3), :mod:`reference.tp4_cnn` and :mod:`reference.cifar.cnn`
(Part 4; the ResNets in :mod:`reference.cifar.resnet` and :mod:`reference.cifar.fast`, all trained
by the GPU engine :mod:`reference.cifar.engine`). Data: :mod:`tpcheck.data`. Training helpers
shared by the parts: :mod:`reference.training`. CLI: ``python -m reference``.
"""
