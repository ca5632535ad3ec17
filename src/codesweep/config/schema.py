"""Typed schemas of tuning recipes (`tuning/*.yaml`) and evaluation suites (`eval/*.yaml`).

Every section forbids unknown keys, so a typo is an error with a "did you mean" instead of
a silently ignored knob. Defaults are the embedded CPU quickstart's.
"""

from __future__ import annotations

import builtins
import copy
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from codesweep.config.base import SafeName, Section
from codesweep.errors import CodesweepError, did_you_mean
from codesweep.registry import Registry
from codesweep.storage import StorageSetting

# Benchmark name -> function cutting one HumanEval problem into tasks. Declared here, where
# suites are validated, with lazy targets: config must not import the evaluation package.
BENCHMARKS: Registry[Any] = Registry("benchmark")
BENCHMARKS.add("humaneval", "codesweep.evaluation.benchmarks:whole_problem_tasks")
BENCHMARKS.add("humaneval_single_line", "codesweep.evaluation.benchmarks:single_line_tasks")
BENCHMARKS.add("humaneval_multi_line", "codesweep.evaluation.benchmarks:multi_line_tasks")


class TinyModelConfig(Section):
    """The embedded default model: a small Llama built from a config, BPE trained on the corpus."""

    vocab_size: int = Field(2048, ge=300, description="BPE vocabulary trained on the train split")
    hidden_size: int = Field(128, ge=8)
    num_layers: int = Field(2, ge=1)
    num_heads: int = Field(4, ge=1)
    intermediate_size: int = Field(256, ge=8)
    max_position_embeddings: int = Field(512, ge=16)
    pretrain_steps: int = Field(150, ge=0, description="brief causal-LM pre-training, cached")
    pretrain_batch_size: int = Field(16, ge=1)
    pretrain_window: int = Field(128, ge=8)
    pretrain_lr: float = Field(3e-3, gt=0)
    tokenizer_sample_files: int = Field(400, ge=1, description="train files the BPE is fit on")
    architecture: Literal["llama", "t5"] = Field(
        "llama", description="llama: causal LM; t5: encoder-decoder (CodeT5-style)")


class QuantizationConfig(Section):
    """bitsandbytes quantization of the frozen base (QLoRA); needs a CUDA GPU."""

    bits: Literal[0, 4, 8] = Field(0, description="0: none; 4: QLoRA (NF4); 8: LLM.int8")
    quant_type: Literal["nf4", "fp4"] = Field("nf4", description="4-bit data type")
    double_quant: bool = Field(True, description="quantize the quantization constants too")
    compute_dtype: Literal["bfloat16", "float16", "float32"] = Field(
        "bfloat16", description="dtype of the 4-bit matmuls")


class ModelConfig(Section):
    """Which base model to fine-tune."""

    name_or_path: str | None = Field(None, description="hub id or local dir; null = tiny model")
    tiny: TinyModelConfig = TinyModelConfig()
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="auto: bf16 on GPUs that have it, else fp16; fp32 on CPU")
    attn_implementation: Literal["auto", "sdpa", "eager", "flash_attention_2"] = Field(
        "auto", description="auto: flash_attention_2 when installed on a GPU, else sdpa")
    gradient_checkpointing: bool = Field(False, description="recompute activations: less memory")
    quantization: QuantizationConfig = QuantizationConfig()


class LoraConfig(Section):
    """LoRA adapter knobs (PEFT)."""

    r: int = Field(8, ge=1, description="rank: higher increases capacity and memory")
    alpha: int = Field(16, ge=1, description="scaling numerator: the update is scaled by alpha/r")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = ["q_proj", "k_proj", "v_proj", "o_proj"]
    bias: Literal["none", "all", "lora_only"] = Field("none", description="which biases train")
    use_dora: bool = Field(False, description="DoRA: weight-decomposed LoRA")


class OptimConfig(Section):
    """AdamW with warmup and a decay schedule."""

    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    warmup_steps: int = Field(5, ge=0)
    schedule: Literal["cosine", "linear", "constant"] = "cosine"
    max_grad_norm: float = Field(1.0, gt=0)


class DataConfig(Section):
    """How prepared files become training sequences."""

    window: int = Field(128, ge=8, description="tokens per training sequence (context window)")
    loader: Literal["ray_data", "direct"] = Field(
        "ray_data", description="ray_data: each worker streams its Ray Data shard (scales past "
        "memory); direct: each worker reads its 1/n of the Parquet split itself, only the "
        "row groups that hold it (no per-run Ray Data start-up)")
    micro_batch_size: int = Field(8, ge=1, description="sequences per worker per forward pass")
    grad_accum: int = Field(1, ge=1, description="micro batches per optimizer step")
    effective_batch_size: int | None = Field(
        None, ge=1, description="sequences per optimizer step over all workers; when set, "
        "grad_accum is derived from it (= effective / (micro_batch_size x workers))")
    val_blocks: int = Field(32, ge=1, description="validation sequences for val_loss")
    task: str | None = Field(
        None, description="prepared task (tasks/<task>/) to train on prompt->completion; "
        "null = raw files, packed")
    packing: bool | None = Field(
        None, description="join sequences into full windows; null = on for files, off for tasks")
    packing_attention: Literal["per_document", "shared"] = Field(
        "per_document", description="packed windows: per_document = each document attends "
        "only to itself (positions restart); shared = attention across the whole window")
    completion_only_loss: bool = Field(True, description="tasks: no loss on prompt tokens")
    ir_variant: Literal["A", "B", "C", "signature_ir"] | None = Field(
        None, description="IR ablation: reads tasks/<task>_<variant>/; C also adds IR tokens; "
        "B/C show the solution's IR (an oracle), signature_ir only the signature's")
    ir: dict[str, Any] = Field(
        {}, description="IR params whose tokens variant C adds (kinds, languages, ...)")


class DeepSpeedConfig(Section):
    """DeepSpeed ZeRO for the Ray Train workers (GPU only); stage 0 = plain DDP."""

    stage: Literal[0, 2, 3] = Field(0, description="0: DDP; 2: shard optimizer+grads; 3: +params")
    offload_optimizer: bool = Field(False, description="optimizer state in CPU memory")
    offload_params: bool = Field(False, description="parameters in CPU memory (stage 3 only)")
    config_file: str | None = Field(
        None, description="your own DeepSpeed JSON; its \"auto\" values are filled from here")


class TrainConfig(Section):
    """One training run (a sweep trial) on Ray Train."""

    max_steps: int = Field(60, ge=1, description="optimizer steps per trial")
    report_every: int = Field(10, ge=1, description="steps between metric reports/checkpoints")
    num_workers: int = Field(2, ge=0, description="Ray Train workers; 0 = in the trial process")
    cpus_per_worker: float = Field(0.5, gt=0, description="fractional on small machines")
    gpus_per_worker: float = Field(0, ge=0)
    torch_threads: int | None = Field(None, ge=1, description="per worker; null = cores/workers")
    seed: int = 0
    deterministic: bool = Field(False, description="deterministic kernels (slower on GPU)")
    method: Literal["lora", "full"] = Field("lora", description="full: every weight trains")
    keep_checkpoints: int = Field(2, ge=1, description="checkpoints kept (the latest always)")
    keep_by: Literal["last", "val_loss"] = Field(
        "last", description="last: the newest N; val_loss: the N best (plus the latest)")
    max_failures: int = Field(2, ge=0, description="worker failures survived per run")
    deepspeed: DeepSpeedConfig = DeepSpeedConfig()


DOMAIN_KINDS = ("choice", "uniform", "loguniform", "integer")
INNER_FRACTION = 0.6180339887  # an irrational step: rarely lands on a whole number


class SearchDomain(Section):
    """One search dimension: exactly one of choice, uniform, loguniform, int.

    Bounds are checked here; whether the values suit the field they are written into is
    checked by `TuningRecipe`, which knows the field's own constraints.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    choice: list[Any] | None = None
    uniform: tuple[float, float] | None = None
    loguniform: tuple[float, float] | None = None
    integer: tuple[builtins.int, builtins.int] | None = Field(None, alias="int")

    @model_validator(mode="after")
    def _exactly_one(self) -> SearchDomain:
        given = [name for name in DOMAIN_KINDS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of choice, uniform, loguniform, int")
        return self

    @model_validator(mode="after")
    def _bounds_in_order(self) -> SearchDomain:
        if self.choice is not None and not self.choice:
            raise ValueError("choice: [] has nothing to choose from; list at least one value")
        if self.uniform is not None and not self.uniform[0] < self.uniform[1]:
            raise ValueError(f"uniform: {list(self.uniform)} needs low < high")
        if self.loguniform is not None:
            low, high = self.loguniform
            if low <= 0:
                raise ValueError(f"loguniform: {[low, high]} needs low > 0 (a log scale)")
            if not low < high:
                raise ValueError(f"loguniform: {[low, high]} needs low < high")
        if self.integer is not None and not self.integer[0] <= self.integer[1]:
            raise ValueError(f"int: {list(self.integer)} needs low <= high (both inclusive)")
        return self

    @property
    def kind(self) -> str:
        """How the recipe spells this domain: choice, uniform, loguniform or int."""
        name = next(name for name in DOMAIN_KINDS if getattr(self, name) is not None)
        return "int" if name == "integer" else name

    def probe_values(self) -> list[Any]:
        """Values the search may produce that show whether the target field accepts it: every
        choice; the end points of a range, plus an inner point of a continuous range (an int
        field rejects a fractional sample that the end points would not show)."""
        if self.choice is not None:
            return list(self.choice)
        if self.integer is not None:
            return list(self.integer)
        low, high = self.uniform or self.loguniform  # type: ignore[misc]
        return [low, high, low + (high - low) * INNER_FRACTION]


class SchedulerConfig(Section):
    """Early stopping of weak trials."""

    type: Literal["asha", "fifo"] = "asha"
    grace_period: int = Field(1, ge=1, description="reports before a trial may be stopped")
    reduction_factor: int = Field(2, ge=2)


LOSS_METRICS = ("val_loss", "train_loss")


def metric_mode(metric: str) -> Literal["min", "max"]:
    """Tune's mode for a sweep metric: losses fall, `eval.<task>.<metric>` follows the metric
    registry's `higher_is_better` (so `wer` is minimized)."""
    if metric in LOSS_METRICS:
        return "min"
    parts = metric.split(".")
    if len(parts) != 3 or parts[0] != "eval" or not all(parts):
        raise ValueError(f"sweep.metric: {metric!r} is neither {' nor '.join(LOSS_METRICS)} "
                         "nor eval.<task>.<metric>")
    from codesweep.metrics import higher_is_better  # lazy: the metric modules are heavy

    try:
        return "max" if higher_is_better(parts[2]) else "min"
    except CodesweepError as exc:
        raise ValueError(f"sweep.metric {metric}: {exc}") from None


class SweepConfig(Section):
    """Ray Tune + Optuna (TPE) over dotted recipe keys."""

    num_trials: int = Field(2, ge=1)
    metric: str = Field("val_loss", description="val_loss, train_loss or eval.<task>.<metric>")
    mode: Literal["min", "max"] | None = Field(None, description="null = the metric's direction")
    seed: int = 0
    space: dict[str, SearchDomain] = {}
    points_to_evaluate: list[dict[str, Any]] = []
    scheduler: SchedulerConfig = SchedulerConfig()
    max_concurrent_trials: int | None = Field(None, ge=1, description="null = from resources")

    @model_validator(mode="after")
    def _mode_follows_metric(self) -> SweepConfig:
        derived = metric_mode(self.metric)
        if self.mode is not None and self.mode != derived:
            raise ValueError(f"sweep.mode: {self.mode} contradicts sweep.metric {self.metric} "
                             f"(its direction is {derived}); drop sweep.mode or set {derived}")
        self.mode = derived
        return self

    @model_validator(mode="after")
    def _points_name_searched_keys(self) -> SweepConfig:
        for number, point in enumerate(self.points_to_evaluate):
            for key in point:
                if key not in self.space:
                    raise ValueError(
                        f"sweep.points_to_evaluate.{number}: {key!r} is not a key of sweep.space"
                        f"{did_you_mean(key, self.space)}; searched: {', '.join(self.space)}")
        return self


class TrackingConfig(Section):
    """MLflow: a local sqlite store under the run directory unless a URI is given."""

    uri: str | None = None
    experiment: str = "codesweep"


class TuningRecipe(Section):
    """A whole experiment: which data, which model, what to sweep, how to evaluate."""

    name: SafeName
    pipeline: str = Field(description="pipeline recipe, relative to this file")
    eval: str | None = Field(None, description="evaluation suite, relative to this file")
    run_dir: str | None = Field(None, description="default: runs/<name>")
    storage: StorageSetting | None = Field(
        None, description="storage root (path or s3://, gs:// URI); --storage and "
                          "$CODESWEEP_STORAGE win over it; default: the working directory")
    model: ModelConfig = ModelConfig()
    lora: LoraConfig = LoraConfig()
    optim: OptimConfig = OptimConfig()
    data: DataConfig = DataConfig()
    train: TrainConfig = TrainConfig()
    sweep: SweepConfig = SweepConfig()
    tracking: TrackingConfig = TrackingConfig()

    @model_validator(mode="after")
    def _space_keys_exist(self) -> TuningRecipe:
        for key in self.sweep.space:
            check_dotted_key(self, key)
        return self

    @model_validator(mode="after")
    def _space_values_fit_their_fields(self) -> TuningRecipe:
        # Validate the recipe with each probe value written in, as every trial's recipe will
        # be: a value the field rejects fails now, not inside a trial after Ray has started.
        if not self.sweep.space:
            return self
        data = self.model_dump(by_alias=True)
        data["sweep"]["space"], data["sweep"]["points_to_evaluate"] = {}, []
        for key, domain in self.sweep.space.items():
            for value in domain.probe_values():
                check_trial_value(data, key, value, f"sweep.space.{key}: {domain.kind} value")
        for number, point in enumerate(self.sweep.points_to_evaluate):
            for key, value in point.items():
                check_trial_value(data, key, value, f"sweep.points_to_evaluate.{number}: {key}")
        return self

    @model_validator(mode="after")
    def _consistent(self) -> TuningRecipe:
        data, train = self.data, self.train
        if data.effective_batch_size is not None:
            per_step = data.micro_batch_size * max(1, train.num_workers)
            if data.effective_batch_size % per_step:
                raise ValueError(
                    f"data.effective_batch_size={data.effective_batch_size} must be a multiple of "
                    f"data.micro_batch_size x train.num_workers = {per_step}")
        if data.ir_variant and not data.task:
            raise ValueError("data.ir_variant needs data.task (the IR task's base name)")
        if self.model.quantization.bits and train.method == "full":
            raise ValueError("model.quantization.bits needs train.method: lora (QLoRA)")
        if train.deepspeed.offload_params and train.deepspeed.stage != 3:
            raise ValueError("train.deepspeed.offload_params needs train.deepspeed.stage: 3")
        if train.deepspeed.stage == 3 and train.method == "lora":
            raise ValueError("train.deepspeed.stage 3 is for train.method: full; LoRA adapters "
                             "are small: use stage 2")
        if self.model.quantization.bits and train.deepspeed.stage == 3:
            raise ValueError("model.quantization.bits with train.deepspeed.stage 3 is not "
                             "supported (bitsandbytes cannot be sharded); use stage 2")
        return self

    def grad_accum_for(self, world_size: int) -> int:
        """Micro batches per optimizer step for `world_size` workers (effective batch kept)."""
        data = self.data
        if data.effective_batch_size is None:
            return data.grad_accum
        per_step = data.micro_batch_size * max(1, world_size)
        if data.effective_batch_size % per_step:
            raise CodesweepError(
                f"data.effective_batch_size={data.effective_batch_size} is not a multiple of "
                f"micro_batch_size x workers = {per_step}")
        return data.effective_batch_size // per_step


TUNABLE_SECTIONS = ("model", "lora", "optim", "data", "train")


def check_dotted_key(recipe: BaseModel, key: str) -> None:
    """Raise ValueError unless `key` (e.g. `lora.r`) names a tunable field of the recipe."""
    section, _, field = key.partition(".")
    if section not in TUNABLE_SECTIONS:
        raise ValueError(f"sweep.space: {key!r} must start with one of "
                         f"{', '.join(TUNABLE_SECTIONS)}{did_you_mean(section, TUNABLE_SECTIONS)}")
    node: Any = getattr(recipe, section)
    for part in field.split("."):
        fields = type(node).model_fields if isinstance(node, BaseModel) else {}
        if part not in fields:
            raise ValueError(f"sweep.space: unknown key {key!r}{did_you_mean(part, fields)}; "
                             f"allowed here: {', '.join(fields)}")
        node = getattr(node, part)


def check_trial_value(recipe_data: dict[str, Any], key: str, value: Any, label: str) -> None:
    """Raise ValueError, starting with `label`, unless the recipe (without its search) is
    valid with `key` = `value`."""
    trial = copy.deepcopy(recipe_data)
    dotted_set(trial, key, value)
    try:
        TuningRecipe.model_validate(trial)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        reason = str((error.get("ctx") or {}).get("error", error["msg"]))
        field = f"{where}: " if where else ""
        shown = f"{value:.6g}" if isinstance(value, float) else repr(value)
        raise ValueError(f"{label} {shown} is not allowed: {field}{reason}") from None


class GenerationConfig(Section):
    """Decoding: deterministic greedy by default, stop strings cut the output."""

    max_new_tokens: int = Field(32, ge=1)
    num_beams: int = Field(1, ge=1)
    do_sample: bool = False
    temperature: float = Field(1.0, gt=0)
    stop: list[str] = Field(["\n"], description="cut the prediction at the first of these")
    batch_size: int = Field(16, ge=1)
    heal_whitespace: bool = Field(
        False, description="decoder-only: drop a prompt's trailing whitespace and let the model "
                           "spell it back (a BPE prompt cut after a space ends on a token it "
                           "never saw there; see evaluation/healing.py)")


class EvalTask(Section):
    """One evaluation task: a prepared task split or an executable benchmark, decoding, metrics.

    Text tasks compare each prediction with its reference. Benchmark tasks (HumanEval and its
    infilling variants) run `samples_per_problem` completions per problem in the sandbox and
    report pass@k for every k in `k`, plus any text `metrics` against the canonical solution.
    """

    name: SafeName
    dataset: str | None = Field(None, description="prepared task name (tasks/<dataset>/)")
    benchmark: str | None = Field(None, description="a registered benchmark, e.g. humaneval")
    benchmark_params: dict[str, Any] = Field({}, description="e.g. {limit: 20, ir: {variant: B}}")
    split: str = "test"
    max_examples: int = Field(200, ge=1)
    language: str = Field("python", description="for language-aware metrics (codebleu)")
    generation: GenerationConfig = GenerationConfig()
    metrics: list[str] = ["exact_match", "edit_sim", "bleu"]
    samples_per_problem: int = Field(1, ge=1, description="benchmarks: n completions per problem")
    k: list[int] = Field([1], description="benchmarks: pass@k for each k (k <= n)")
    timeout: float = Field(5.0, gt=0, description="benchmarks: seconds per executed sample")

    @field_validator("benchmark")
    @classmethod
    def _registered_benchmark(cls, value: str | None) -> str | None:
        if value is not None and value not in BENCHMARKS:
            raise ValueError(BENCHMARKS.unknown(value))
        return value

    @model_validator(mode="after")
    def _one_source(self) -> EvalTask:
        if (self.dataset is None) == (self.benchmark is None):
            raise ValueError("give exactly one of dataset (a prepared task) or benchmark")
        if self.benchmark and max(self.k) > self.samples_per_problem:
            raise ValueError(f"k={max(self.k)} needs samples_per_problem >= {max(self.k)}")
        if self.samples_per_problem > 1 and not self.generation.do_sample:
            raise ValueError("samples_per_problem > 1 needs generation.do_sample: true")
        return self


class InTrainingSlice(Section):
    """The fast slice of the suite scored on every checkpoint while the sweep trains."""

    tasks: list[str] | None = Field(None, description="task names; null = every task")
    examples: int = Field(32, ge=1, description="first N examples of each task")


class EvalSuite(Section):
    """An evaluation suite: tasks scored for the base model and every checkpoint."""

    name: str
    tasks: list[EvalTask] = Field(min_length=1)
    num_actors: int = Field(2, ge=1, description="models evaluated in parallel (one per actor)")
    cpus_per_actor: float = Field(1.0, gt=0)
    gpus_per_actor: float = Field(0, ge=0)
    primary_metric: str = Field("edit_sim", description="ranks the leaderboard")
    in_training: InTrainingSlice | None = Field(
        None, description="scored on every checkpoint while the sweep runs")

    @model_validator(mode="after")
    def _slice_fits_tasks(self) -> EvalSuite:
        if self.in_training is None:
            return self
        names = [task.name for task in self.tasks]
        for name in self.in_training.tasks or []:
            if name not in names:
                raise ValueError(f"in_training.tasks: {name!r} is not a task of this suite"
                                 f"{did_you_mean(name, names)}; tasks: {', '.join(names)}")
        for task in self.in_training_tasks():
            if self.in_training.examples > task.max_examples:
                raise ValueError(f"in_training.examples: {self.in_training.examples} is more "
                                 f"than task {task.name}'s max_examples {task.max_examples}")
        return self

    def in_training_tasks(self) -> list[EvalTask]:
        """The tasks scored while the sweep runs (none without `in_training`)."""
        if self.in_training is None:
            return []
        chosen = self.in_training.tasks
        return [task for task in self.tasks if chosen is None or task.name in chosen]


def dotted_set(data: dict[str, Any], key: str, value: Any) -> None:
    """Write `a.b.c` into nested mappings (in place)."""
    parts = key.split(".")
    node = data
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value

