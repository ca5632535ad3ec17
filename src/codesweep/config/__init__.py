"""Recipes: YAML with `extends:`, dotted command-line overrides, typed validation."""

from codesweep.config.loader import apply_overrides, load_recipe, load_yaml_tree, validate

__all__ = ["apply_overrides", "load_recipe", "load_yaml_tree", "validate"]
