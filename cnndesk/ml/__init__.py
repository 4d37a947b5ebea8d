"""Learning: backbones, preprocessing, the training loop, evaluation and the model-folder format.

Everything that imports torch, torchvision or timm lives under this package; nothing outside it
imports them at module level. ``cnndesk.ml`` never imports ``cnndesk.library`` or Qt: ``jobs``
hands it lists of :class:`cnndesk.domain.TrainingSample` and writes its results back.
"""
