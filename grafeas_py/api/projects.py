"""The Grafeas Projects API (`grafeas.v1.project.Projects`)."""

from __future__ import annotations

from flask_smorest import Blueprint

from ..filtering import parse
from ..names import check_id
from .http import grafeas, json_body, respond, respond_list
from .openapi import body_doc
from .paging import next_page_token, page_request
from .schemas import ListQuery

blp = Blueprint(
    "projects", __name__, url_prefix="/v1/projects", description="Projects: namespaces for notes and occurrences."
)
blp.ARGUMENTS_PARSER.DEFAULT_VALIDATION_STATUS = 400


@blp.route("", methods=["POST"], endpoint="create_project")
@blp.doc(requestBody=body_doc("Project"), summary="CreateProject")
@blp.response(200, "Project")
def create_project():
    return respond(grafeas().service.create_project(json_body()))


@blp.route("/<segment:project>", methods=["GET"], endpoint="get_project")
@blp.doc(summary="GetProject")
@blp.response(200, "Project")
def get_project(project):
    return respond(grafeas().service.get_project(check_id("project", project)))


@blp.route("", methods=["GET"], endpoint="list_projects")
@blp.arguments(ListQuery(), location="query")
@blp.doc(summary='ListProjects: filter on name, e.g. has_prefix(name, "projects/team-")')
@blp.response(200, "ListProjectsResponse")
def list_projects(args):
    result = grafeas().service.list_projects(page_request("projects", args), parse(args["filter"]))
    return respond_list("projects", None, result.items, next_page_token("projects", args, result))


@blp.route("/<segment:project>", methods=["DELETE"], endpoint="delete_project")
@blp.doc(summary="DeleteProject: only a project that holds no notes or occurrences")
@blp.response(200, "Empty")
def delete_project(project):
    grafeas().service.delete_project(check_id("project", project))
    return respond({})
