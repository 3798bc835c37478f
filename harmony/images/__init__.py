"""Container images for airgapped projects: their names (reference), pulled from registries as
the OCI distribution API serves them (registry), and written into an archive k3s imports
(archive)."""
