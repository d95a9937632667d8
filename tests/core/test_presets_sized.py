"""Presets sized for the model and the data: what changes with the size, and nothing cut silently."""

from __future__ import annotations

from desktop_ift.core.training.presets import apply_preset, get_preset, matching_preset, sized_preset

SMOLLM2 = 134_515_008


def test_without_a_size_the_preset_values_apply_unchanged():
    for name in ("Quick try", "Balanced", "Best quality"):
        assert sized_preset(name).values == get_preset(name).values
        assert sized_preset(name, parameters=400_000).values == get_preset(name).values  # tiny random model


def test_small_models_get_larger_learning_rates_than_large_ones():
    for name in ("Quick try", "Balanced", "Best quality"):
        small = sized_preset(name, parameters=SMOLLM2).values["learning_rate"]
        big = sized_preset(name, parameters=7_000_000_000).values["learning_rate"]
        assert small > big
    quick, best = (sized_preset(n, parameters=SMOLLM2).values for n in ("Quick try", "Best quality"))
    assert quick["learning_rate"] > best["learning_rate"] and quick["lora_r"] < best["lora_r"]
    assert not quick["gradient_checkpointing"]  # a 135M model needs no activation recomputation
    assert sized_preset("Best quality", parameters=7_000_000_000).values["gradient_checkpointing"]


def test_quick_try_caps_its_steps_and_says_how_much_data_it_sees():
    sized = sized_preset("Quick try", parameters=SMOLLM2, n_train=320)
    assert sized.values["max_steps"] == 20 and sized.values["packing"] is False
    assert any("160 of 320 training examples" in note for note in sized.notes)
    # a dataset smaller than the cap: one whole epoch, no cap
    assert sized_preset("Quick try", parameters=SMOLLM2, n_train=80).values["max_steps"] == -1


def test_max_length_fits_the_longest_example_and_counts_what_a_cap_cuts():
    sized = sized_preset("Quick try", lengths=[62, 93, 77])
    assert sized.values["max_seq_length"] == 96 and "longest example (93 tokens)" in " ".join(sized.notes)
    assert "short examples" not in get_preset("Quick try").explanation
    long = sized_preset("Quick try", lengths=[100] * 8 + [700, 900])
    assert long.values["max_seq_length"] == 512
    assert "2 of 10 examples are longer and will be cut" in " ".join(long.notes)
    assert sized_preset("Best quality", lengths=[100] * 8 + [700, 900]).values["max_seq_length"] == 928


def test_a_sized_preset_is_recognised_for_the_same_model_only():
    config = apply_preset("Balanced", parameters=SMOLLM2, lengths=[80, 90], n_train=320)
    assert matching_preset(config, parameters=SMOLLM2, lengths=[80, 90], n_train=320) == "Balanced"
    assert matching_preset(config) is None  # the generic Balanced has another learning rate
