"""JSON Schemas for pe's manifests, shipped inside the package as pe.schemas."""
