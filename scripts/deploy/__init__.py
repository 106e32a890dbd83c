"""Stage operations: stage_config (a stage's region, stack and deploy parameters from samconfig.toml), stage_ops
(preflight, bootstrap, releases, outputs, destroy) and deploy_costs (docs/deploy.md's cost tables);
smoke_test.sh checks a deployed stage."""
