"""Developer tools, one package per job: ``model`` builds and measures the model, ``perf`` measures the service's
speed and cost, ``cli`` talks to the service, ``deploy`` runs the stages, ``common`` holds what they share.

Each tool runs as ``python -m scripts.<package>.<tool> --help``; the Makefile's targets name them.
"""
