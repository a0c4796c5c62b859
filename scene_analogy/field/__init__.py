"""The context descriptor field (DESIGN §3): the model and its config (`model.py`), checkpoints (`checkpoint.py`)
and the converter of the authors' pickled checkpoints (`authors.py`)."""

from scene_analogy.field.checkpoint import load_config, load_field, save_checkpoint, save_pretrained
from scene_analogy.field.model import PRESETS, ContextDescriptorField, FieldConfig

__all__ = ["ContextDescriptorField", "FieldConfig", "PRESETS", "load_config", "load_field", "save_checkpoint",
           "save_pretrained"]
