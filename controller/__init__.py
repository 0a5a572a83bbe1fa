"""hookbus.controller: the workflow engine that runs Argo Workflows manifests."""
