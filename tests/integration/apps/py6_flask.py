"""A Flask app (Debian's python3-flask) for tests/integration/test_python.py.

  /                 "Hello from Flask"
  /upload           multipart POST: for each file in request.files, its
                    field, file name, size and sha256 (JSON list)
  /sha256           the raw body's length and sha256 (JSON)
  /where/<name>     the path parameter, request.script_root, request.path
                    and url_for of this view (JSON): what a mount does to
                    SCRIPT_NAME and PATH_INFO, as Flask sees it
"""
import hashlib

from flask import Flask, jsonify, request, url_for

app = Flask(__name__)


@app.route("/")
def index():
    return "Hello from Flask"


@app.route("/upload", methods=["POST"])
def upload():
    out = []
    for field, storage in request.files.items(multi=True):
        data = storage.read()
        out.append({"field": field, "filename": storage.filename, "size": len(data),
                    "sha256": hashlib.sha256(data).hexdigest()})
    return jsonify(files=out, form=request.form.to_dict())


@app.route("/sha256", methods=["POST"])
def sha256():
    h = hashlib.sha256()
    size = 0
    while True:
        chunk = request.stream.read(65536)
        if not chunk:
            break
        size += len(chunk)
        h.update(chunk)
    return jsonify(size=size, sha256=h.hexdigest(),
                   terminated=request.environ.get("wsgi.input_terminated"))


@app.route("/where/<name>")
def where(name):
    return jsonify(name=name, script_root=request.script_root, path=request.path,
                   url=url_for("where", name=name),
                   script_name=request.environ.get("SCRIPT_NAME"),
                   path_info=request.environ.get("PATH_INFO"))


application = app
