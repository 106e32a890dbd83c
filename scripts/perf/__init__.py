"""The performance lab: bench (serving paths side by side), loadtest (load and soak on uvicorn), right_size (the
image at each Lambda memory size), bulk_bench (the bulk job's throughput) and reliability_report (docs tables).
lambda_image builds and runs the container image under the Lambda emulator, for right_size and tests/image."""
