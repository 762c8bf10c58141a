"""The node driver's pure parts: a GPU inventory to the ResourceSlices ``gpu.nvidia.com`` publishes."""
