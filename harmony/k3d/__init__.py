"""k3s in Docker, through k3d: for hosts where Docker is the runtime."""
