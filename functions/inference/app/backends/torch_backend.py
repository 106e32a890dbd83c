"""PyTorch backend: a Hugging Face sequence classifier run in fp32 on the CPU."""

from __future__ import annotations

import inspect
import threading
from collections.abc import Sequence

import torch
from transformers import AutoConfig, AutoModelForSequenceClassification
from transformers.utils import logging as transformers_logging

from .base import LoadedBackend, ModelConfig, ModelInfo, ModelLoadError, ModelOutput
from .tokenization import TextEncoder


class TorchBackend(LoadedBackend):
    """Loads once per execution environment; ``predict`` is safe to call from several threads."""

    def __init__(self, config: ModelConfig, *, source: str, num_threads: int) -> None:
        torch.set_num_threads(num_threads)
        transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # noise in CloudWatch
        model_dir = config.folder
        weights = model_dir / "model.safetensors"
        if not weights.is_file():
            raise ModelLoadError(f"{weights} is missing")
        try:
            # Bandit B615 (unpinned Hub download) does not apply: a local directory, local_files_only=True.
            hf_config = AutoConfig.from_pretrained(model_dir, local_files_only=True)  # nosec B615
            model, loading = AutoModelForSequenceClassification.from_pretrained(  # nosec B615
                model_dir, local_files_only=True, dtype=torch.float32, output_loading_info=True
            )
        except Exception as exc:  # loaders raise many types (OSError, SafetensorError, ...): all mean "unusable"
            raise ModelLoadError(f"{model_dir} does not hold a loadable sequence classifier") from exc
        # Partial weights load "successfully" with the missing tensors randomly initialised: refuse them.
        if loading.get("missing_keys") or loading.get("mismatched_keys"):
            missing = sorted(loading.get("missing_keys") or []) + sorted(loading.get("mismatched_keys") or [])
            raise ModelLoadError(f"{weights} lacks {len(missing)} tensors of the model, e.g. {missing[:3]}")
        self._model = model.eval()
        self._encoder = TextEncoder(model_dir, max_position_embeddings=int(hf_config.max_position_embeddings))
        self._config = config
        self._passes_token_types = "token_type_ids" in inspect.signature(model.forward).parameters
        self._lock = threading.Lock()
        self._info = ModelInfo(
            name=config.name,
            source=source,
            architecture=(hf_config.architectures or [type(model).__name__])[0],
            parameters=sum(parameter.numel() for parameter in model.parameters()),
            max_length=self._encoder.max_length,
            backend="torch",
            weights_file=weights,
        )

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens of each text as ``run`` would feed them: what a request's work is counted in."""
        return self._encoder.count_tokens(texts)

    def run(self, texts: Sequence[str]) -> ModelOutput:
        batch = self._encoder.encode(texts)
        inputs = {
            "input_ids": torch.from_numpy(batch.input_ids),
            "attention_mask": torch.from_numpy(batch.attention_mask),
        }
        if self._passes_token_types:
            inputs["token_type_ids"] = torch.zeros_like(inputs["input_ids"])
        # One model call at a time: concurrent calls would oversubscribe the intra-op threads.
        with self._lock, torch.inference_mode():
            out = self._model(**inputs, output_hidden_states=True)
        return ModelOutput(
            logits=out.logits.float().numpy(),
            features=out.hidden_states[-1][:, 0].float().numpy(),
            truncated=batch.truncated,
        )
