from followup.selectors import unread_count


def notifications(request):
    """Unread in-app notifications for the nav bar (one COUNT query per page)."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"edc_unread_notifications": unread_count(user)}
