"""Understanding group messages: a pure library (never imports bot, handlers or storage)."""

from nlp.classifier import Classifier, classify, default_classifier
from nlp.understanding import Intent, Location, Understanding

__all__ = ["Classifier", "Intent", "Location", "Understanding", "classify", "default_classifier"]
