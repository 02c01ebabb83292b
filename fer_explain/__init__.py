"""fer_explain: train facial emotion recognition models and find out why they predict what they predict."""

from fer_explain.labels import BASIC7, BASIC8, EMOTIONS, LabelSpace, get_label_space

__version__ = "0.1.0"

__all__ = ["BASIC7", "BASIC8", "EMOTIONS", "LabelSpace", "__version__", "get_label_space"]
