"""The ``gpuplane`` command."""
