"""The class hub: JupyterHub for the course on one server (see README.md here); run course_hub.py."""
