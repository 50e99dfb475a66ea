"""A Flask app: form fields, file uploads and JSON through wsgi.input."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.route("/")
def index():
    return "hello " + request.args.get("name", "nobody")


@app.route("/upload", methods=["POST"])
def upload():
    f = request.files["file"]
    data = f.read()
    return "%s %s %d %s" % (request.form["title"], f.filename, len(data), data[:5].decode())


@app.route("/json", methods=["POST"])
def json_echo():
    return jsonify(got=request.get_json(), scheme=request.scheme, host=request.host)
