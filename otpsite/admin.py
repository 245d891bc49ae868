"""Staff accounts in the console's theme. A staff user who is not a superuser sees only the accounts that
share an organization with them (and their own), so no other organization's staff shows through."""

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Q
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm

from otpusers.admin_scoping import sees_every_organization, visible_organization_ids

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        if sees_every_organization(request.user):
            return queryset
        shares_an_organization = Q(organizations__in=visible_organization_ids(request)) | Q(pk=request.user.pk)
        return queryset.filter(pk__in=queryset.filter(shares_an_organization).values("pk"))


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass
