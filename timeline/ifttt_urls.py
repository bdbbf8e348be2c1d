"""The IFTTT Service API, mounted at /ifttt/v1/ (the path IFTTT appends to the service's URL prefix)."""

from django.urls import path

from timeline import ifttt

urlpatterns = [
    path("status", ifttt.status, name="ifttt_status"),
    path("test/setup", ifttt.test_setup, name="ifttt_test_setup"),
    path("user/info", ifttt.user_info, name="ifttt_user_info"),
    path("triggers/new_record", ifttt.new_record, name="ifttt_new_record"),
    path("triggers/new_card", ifttt.new_card, name="ifttt_new_card"),
    path("triggers/<slug:slug>/trigger_identity/<str:identity>", ifttt.forget_trigger, name="ifttt_forget_trigger"),
    path("actions/create_task", ifttt.create_task, name="ifttt_create_task"),
    path("actions/create_note", ifttt.create_note, name="ifttt_create_note"),
    path("actions/run_workflow", ifttt.run_workflow, name="ifttt_run_workflow"),
]
