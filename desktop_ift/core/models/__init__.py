"""Base models that come from somewhere other than a Hugging Face folder: the bundled SmolLM2
(:mod:`.bundled`) and GGUF files converted to ordinary folders (:mod:`.gguf_convert`)."""
