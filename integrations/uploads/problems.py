"""What went wrong with an upload or an import, as a sentence for the person and an HTTP status."""


class UploadProblem(Exception):
    def __init__(
        self, message: str, *, remediation: str = "", field: str | None = None, status: int = 400, code: str = ""
    ):
        super().__init__(message)
        self.message = message
        self.remediation = remediation
        self.field = field
        self.status = status
        self.code = code

    def __str__(self):
        return self.message
