from django import forms


class EmailForm(forms.Form):
    email = forms.EmailField(
        max_length=256,
        widget=forms.EmailInput(attrs={"autocomplete": "email", "autofocus": True, "placeholder": "you@example.com"}),
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        max_length=32,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True, "spellcheck": "false"}
        ),
    )
