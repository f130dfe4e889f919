"""Torch-and-numpy-only model code that `mvssl export --format hear` copies verbatim into the exported
package; nothing here imports the rest of the engine, so an exported model runs without it."""
