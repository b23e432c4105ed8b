"""Architectures and building blocks only: no training logic lives here."""

from .classifier import DigitClassifier
from .dcgan import DCGANDiscriminator, DCGANGenerator
from .layers import ConditionalBatchNorm2d, SelfAttention, apply_spectral_norm
from .mlp import MLPDiscriminator, MLPGenerator
from .resnet import ResNetDiscriminator, ResNetGenerator
from .stylegan import StyleDiscriminator, StyleGenerator
from .unet import UNet
from .vae import VAEDecoder, VAEEncoder

__all__ = [
    "MLPGenerator",
    "MLPDiscriminator",
    "DCGANGenerator",
    "DCGANDiscriminator",
    "DigitClassifier",
    "ResNetGenerator",
    "ResNetDiscriminator",
    "StyleGenerator",
    "StyleDiscriminator",
    "SelfAttention",
    "ConditionalBatchNorm2d",
    "apply_spectral_norm",
    "UNet",
    "VAEEncoder",
    "VAEDecoder",
]
