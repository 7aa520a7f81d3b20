"""The MLflow registry bridge (`orchestrator mlflow sync`, the optional extra `[mlflow]`).

`plan` is pure (what a registered version becomes, which alias moves where) and imports no
MLflow; `sync` and `register` are the shells around `mlflow.tracking.MlflowClient`, and import
MLflow only when called, so the base package works without the extra.
"""
