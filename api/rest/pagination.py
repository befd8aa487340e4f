from rest_framework.pagination import CursorPagination


class Cursor(CursorPagination):
    """Cursor pagination: stable under concurrent inserts, constant cost per page."""

    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"
    ordering = "pk"
