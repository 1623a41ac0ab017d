"""The drawing web app of scratchcnn: `webui.app.create_app(model)` and the page in static/."""
