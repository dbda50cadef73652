"""Export formats and the file extension each writes (torch-free: the CLI checks and completes them)."""

FORMATS = {"safetensors": ".safetensors", "onnx": ".onnx", "torchscript": ".pt"}
