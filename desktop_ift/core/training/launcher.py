"""Running a training job on several processes (GPUs) through ``accelerate launch``.

:func:`processes_for` decides how many processes a job gets (``num_processes`` 0 means one per GPU found,
1 on a machine without GPUs; an explicit number is used as given, also on the CPU, where the processes talk
over gloo). :func:`accelerate_config` generates the accelerate configuration for the chosen strategy (DDP
by default, FSDP, DeepSpeed ZeRO-2/3), and :func:`launch_command` the exact command line. The worker calls
these itself (``python -m desktop_ift.core.worker job.json`` re-executes through accelerate when a job needs
several processes), so the GUI, the CLI and a cluster script all start a job the same way. Torch-free.
"""

from __future__ import annotations

import importlib.util
import shlex
import sys
from pathlib import Path

from desktop_ift.core.training.config import TrainConfig
from desktop_ift.core.training.hardware import detect_devices


class LaunchError(RuntimeError):
    """A multi-process setting that cannot run here; the message says what to install or change."""


def gpu_count() -> int:
    """NVIDIA GPUs on this machine (from nvidia-smi; no torch)."""
    return sum(1 for g in detect_devices().gpus if g.kind == "cuda")


def processes_for(config: TrainConfig, gpus: int | None = None) -> int:
    """How many training processes ``config`` gets on a machine with ``gpus`` NVIDIA GPUs."""
    gpus = gpu_count() if gpus is None else gpus
    if config.num_processes > 0:
        return config.num_processes
    return max(gpus, 1)


def accelerate_config(config: TrainConfig, processes: int, use_cpu: bool = False) -> dict:
    """The ``accelerate launch --config_file`` content for ``config.distributed`` on ``processes`` processes.

    On the CPU only DDP exists (gloo); FSDP/DeepSpeed need GPUs. DeepSpeed must be installed; without it a
    :class:`LaunchError` explains what to do (the configuration itself can still be written, see
    :func:`desktop_ift.core.training.bundle.export_bundle`).
    """
    base = {"compute_environment": "LOCAL_MACHINE", "machine_rank": 0, "num_machines": 1,
            "num_processes": processes, "main_training_function": "main", "mixed_precision": "no",
            "rdzv_backend": "static", "same_network": True, "use_cpu": use_cpu, "debug": False,
            "downcast_bf16": "no", "tpu_use_cluster": False, "tpu_use_sudo": False}
    strategy = "ddp" if use_cpu else config.distributed
    if strategy == "ddp":
        return {**base, "distributed_type": "MULTI_GPU", "gpu_ids": "all"}
    if strategy == "fsdp":
        return {**base, "distributed_type": "FSDP", "fsdp_config": {
            "fsdp_version": 1,
            "fsdp_auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "fsdp_sharding_strategy": "FULL_SHARD",
            "fsdp_backward_prefetch": "BACKWARD_PRE",
            "fsdp_state_dict_type": "FULL_STATE_DICT",
            "fsdp_offload_params": False,
            "fsdp_cpu_ram_efficient_loading": True,
            "fsdp_sync_module_states": True,
            "fsdp_use_orig_params": True,  # needed when only LoRA weights train
        }}
    stage = 3 if strategy == "deepspeed-zero3" else 2
    return {**base, "distributed_type": "DEEPSPEED", "deepspeed_config": {
        "zero_stage": stage,
        "offload_optimizer_device": "none",
        "offload_param_device": "none",
        "zero3_init_flag": stage == 3,
        "zero3_save_16bit_model": stage == 3,
        "gradient_accumulation_steps": config.gradient_accumulation,
        "gradient_clipping": 1.0,
    }}


def check_strategy(config: TrainConfig, use_cpu: bool) -> None:
    """Raise :class:`LaunchError` when ``config.distributed`` cannot run on this machine."""
    if use_cpu:
        return
    if config.distributed.startswith("deepspeed") and importlib.util.find_spec("deepspeed") is None:
        raise LaunchError(
            f"{config.distributed} needs DeepSpeed, which is not installed. Install it (pip install deepspeed, "
            "Linux with NVIDIA GPUs) or choose ddp or fsdp. 'Export run bundle' writes the DeepSpeed "
            "configuration for a machine that has it."
        )


def write_accelerate_config(path: Path | str, config: TrainConfig, processes: int, use_cpu: bool) -> Path:
    """Write the accelerate configuration as YAML to ``path``."""
    import yaml

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(accelerate_config(config, processes, use_cpu), sort_keys=False),
                    encoding="utf-8")
    return path


def launch_command(job_path: Path | str, config_file: Path | str, python: str | None = None) -> list[str]:
    """``python -m accelerate.commands.launch --config_file CFG -m desktop_ift.core.worker JOB``."""
    return [python or sys.executable, "-u", "-m", "accelerate.commands.launch", "--config_file", str(config_file),
            "-m", "desktop_ift.core.worker", str(job_path)]


def prepare_launch(job: dict, job_path: Path | str, run_dir: Path | str) -> list[str] | None:
    """The accelerate command for a job that needs several processes (writing its config into the run
    folder), or None for a single process. Raises :class:`LaunchError` for a strategy that cannot run."""
    config = TrainConfig.from_dict(job.get("config") or {})
    gpus = gpu_count()
    processes = processes_for(config, gpus)
    if processes <= 1:
        return None
    use_cpu = gpus == 0
    check_strategy(config, use_cpu)
    cfg = write_accelerate_config(Path(run_dir) / "accelerate_config.yaml", config, processes, use_cpu)
    return launch_command(job_path, cfg)


def shell_line(argv: list[str]) -> str:
    """The command as one line to paste into a terminal."""
    return " ".join(shlex.quote(a) for a in argv)
