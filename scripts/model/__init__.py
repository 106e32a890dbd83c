"""The model pipeline, one module per step: data (fetch_data, labelled_data, emotion_data) -> teacher -> train
(convert_bert) -> export_onnx -> evaluate (metrics) -> fit_trust -> model_report (the card); ``pipeline`` runs
them all (``make model``); batch_invariance measures what one model call per text costs and buys."""
