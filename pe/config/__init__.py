"""What was asked: the feature manifest, parsed once into typed values."""
