"""Convert a BERT encoder (e.g. all-MiniLM-L6-v2) into an equivalent DistilBERT one.

The two architectures are the same post-LN transformer; only names differ, plus
one detail: DistilBERT has no token-type embedding. Since a single-segment
input always uses token type 0, the type-0 row is added into every position
embedding, which gives identical hidden states for ``token_type_ids == 0``.

Mapping (per layer ``i``)::

    encoder.layer.i.attention.self.{query,key,value}  -> transformer.layer.i.attention.{q,k,v}_lin
    encoder.layer.i.attention.output.dense            -> transformer.layer.i.attention.out_lin
    encoder.layer.i.attention.output.LayerNorm        -> transformer.layer.i.sa_layer_norm
    encoder.layer.i.intermediate.dense                -> transformer.layer.i.ffn.lin1
    encoder.layer.i.output.dense                      -> transformer.layer.i.ffn.lin2
    encoder.layer.i.output.LayerNorm                  -> transformer.layer.i.output_layer_norm

The pooler is dropped (DistilBERT classifiers use the [CLS] hidden state).

CLI::

    python -m scripts.model.convert_bert --bert-dir PATH --output-dir OUT
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import torch
from transformers import (
    BertConfig,
    BertModel,
    DistilBertConfig,
    DistilBertForSequenceClassification,
    DistilBertModel,
    DistilBertTokenizerFast,
)

#: DistilBERT hard-codes this LayerNorm epsilon.
DISTILBERT_LN_EPS = 1e-12

_LAYER_MAP = {
    "attention.self.query": "attention.q_lin",
    "attention.self.key": "attention.k_lin",
    "attention.self.value": "attention.v_lin",
    "attention.output.dense": "attention.out_lin",
    "attention.output.LayerNorm": "sa_layer_norm",
    "intermediate.dense": "ffn.lin1",
    "output.dense": "ffn.lin2",
    "output.LayerNorm": "output_layer_norm",
}


def distilbert_config_from_bert(bert_config: BertConfig, **overrides: object) -> DistilBertConfig:
    """Build the DistilBERT config with the same sizes as ``bert_config``."""
    if getattr(bert_config, "position_embedding_type", "absolute") != "absolute":
        raise ValueError("only absolute position embeddings can be converted")
    if bert_config.hidden_act != "gelu":
        raise ValueError(f"DistilBERT conversion needs gelu, got {bert_config.hidden_act!r}")
    if abs(bert_config.layer_norm_eps - DISTILBERT_LN_EPS) > 1e-15:
        raise ValueError(f"DistilBERT uses LayerNorm eps {DISTILBERT_LN_EPS}, got {bert_config.layer_norm_eps}")
    kwargs: dict[str, object] = {
        "vocab_size": bert_config.vocab_size,
        "max_position_embeddings": bert_config.max_position_embeddings,
        "dim": bert_config.hidden_size,
        "n_layers": bert_config.num_hidden_layers,
        "n_heads": bert_config.num_attention_heads,
        "hidden_dim": bert_config.intermediate_size,
        "activation": "gelu",
        "dropout": bert_config.hidden_dropout_prob,
        "attention_dropout": bert_config.attention_probs_dropout_prob,
        "initializer_range": bert_config.initializer_range,
        "pad_token_id": bert_config.pad_token_id,
        "sinusoidal_pos_embds": False,
    }
    kwargs.update(overrides)
    return DistilBertConfig(**kwargs)


def convert_state_dict(bert_state: Mapping[str, torch.Tensor], num_layers: int) -> dict[str, torch.Tensor]:
    """Map a BertModel state dict onto DistilBertModel key names.

    Accepts keys with or without a leading ``bert.``; ignores the pooler and
    buffers such as ``position_ids``.
    """
    state = {key.removeprefix("bert."): value for key, value in bert_state.items()}
    out: dict[str, torch.Tensor] = {
        "embeddings.word_embeddings.weight": state["embeddings.word_embeddings.weight"].clone(),
        # Fold the token-type-0 embedding into every position embedding.
        "embeddings.position_embeddings.weight": (
            state["embeddings.position_embeddings.weight"] + state["embeddings.token_type_embeddings.weight"][0]
        ).clone(),
        "embeddings.LayerNorm.weight": state["embeddings.LayerNorm.weight"].clone(),
        "embeddings.LayerNorm.bias": state["embeddings.LayerNorm.bias"].clone(),
    }
    for layer in range(num_layers):
        for bert_name, distil_name in _LAYER_MAP.items():
            for param in ("weight", "bias"):
                src = f"encoder.layer.{layer}.{bert_name}.{param}"
                dst = f"transformer.layer.{layer}.{distil_name}.{param}"
                out[dst] = state[src].clone()
    return out


def convert_bert_model(bert: BertModel, **config_overrides: object) -> DistilBertModel:
    """Return a DistilBertModel whose hidden states equal ``bert``'s (token type 0)."""
    config = distilbert_config_from_bert(bert.config, **config_overrides)
    model = DistilBertModel(config)
    converted = convert_state_dict(bert.state_dict(), config.n_layers)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    missing = [key for key in missing if not key.endswith("position_ids")]
    if missing or unexpected:
        raise RuntimeError(f"conversion mismatch: missing={missing} unexpected={unexpected}")
    return model.eval()


def distilbert_tokenizer_from_bert(bert_dir: str | Path) -> DistilBertTokenizerFast:
    """Build a DistilBERT fast tokenizer from a BERT folder's WordPiece ``vocab.txt``."""
    bert_dir = Path(bert_dir)
    do_lower_case = True
    max_len = 512
    config_path = bert_dir / "tokenizer_config.json"
    if config_path.exists():
        tok_config = json.loads(config_path.read_text(encoding="utf-8"))
        do_lower_case = bool(tok_config.get("do_lower_case", True))
        max_len = int(tok_config.get("model_max_length", 512))
    tokenizer = DistilBertTokenizerFast(vocab=str(bert_dir / "vocab.txt"), do_lower_case=do_lower_case)
    tokenizer.model_max_length = max_len
    return tokenizer


def classifier_from_bert(
    bert_dir: str | Path, labels: Sequence[str], **config_overrides: object
) -> tuple[DistilBertForSequenceClassification, DistilBertTokenizerFast]:
    """Convert a BERT folder into a fresh DistilBERT classifier (encoder weights copied)."""
    bert = BertModel.from_pretrained(str(bert_dir), add_pooling_layer=False)
    encoder = convert_bert_model(bert, **config_overrides)
    config = encoder.config
    config.num_labels = len(labels)
    config.id2label = dict(enumerate(labels))
    config.label2id = {label: index for index, label in enumerate(labels)}
    config.architectures = ["DistilBertForSequenceClassification"]
    model = DistilBertForSequenceClassification(config)
    model.distilbert.load_state_dict(encoder.state_dict())
    return model, distilbert_tokenizer_from_bert(bert_dir)


def main(argv: Sequence[str] | None = None) -> None:
    """CLI: convert a BERT folder into a DistilBertModel folder with tokenizer."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bert-dir", required=True, help="folder with a BERT config.json, weights and vocab.txt")
    parser.add_argument("--output-dir", required=True, help="where to save the DistilBERT model")
    args = parser.parse_args(argv)
    bert = BertModel.from_pretrained(args.bert_dir, add_pooling_layer=False)
    model = convert_bert_model(bert)
    model.save_pretrained(args.output_dir)
    distilbert_tokenizer_from_bert(args.bert_dir).save_pretrained(args.output_dir)
    print(f"wrote {args.output_dir}")


if __name__ == "__main__":
    main()
