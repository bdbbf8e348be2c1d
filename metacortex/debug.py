"""Error reports (the DEBUG page, the error emails) never show secrets."""

from django.views.debug import SafeExceptionReporterFilter


class AlwaysSafeExceptionReporterFilter(SafeExceptionReporterFilter):
    """Django cleanses @sensitive_variables and @sensitive_post_parameters only when DEBUG is off;
    a hub run with DEBUG on for a moment must not show an API body or a token either."""

    def is_active(self, request):
        return True
